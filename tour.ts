// `npm start`: a short tour of resgrad. Build a residual function H(x) = F(x) + x from our
// ops, run it forward and backward, gradcheck it, and ladder the GEMM variants (TypeScript to WASM SIMD and threads).
import { F, type Tensor, autograd, getNumThreads, manualSeed, models, randint, randn, setNumThreads, variants } from './index.js';

const line = (s = '') => console.log(s);

line('resgrad tour');
line('============');
manualSeed(0);

// 1. A residual branch: F(x) = W2·relu(W1·x), and the block outputs H(x) = F(x) + x.
//    If the weights are zero, H is the identity: the block starts as "do nothing" and learns the
//    residual F = H - x, which is the ResNet paper's argument for why deep nets still train.
const d = 8;
const x = randn([4, d], { dtype: 'float64', requiresGrad: true });
const w1 = randn([d, d], { dtype: 'float64', requiresGrad: true });
const w2 = randn([d, d], { dtype: 'float64', requiresGrad: true });
const residualBlock = (input: Tensor, a: Tensor, b: Tensor): Tensor => input.matmul(a).relu().matmul(b).add(input);

const h = residualBlock(x, w1, w2);
const loss = h.square().mean();
loss.backward();
line(`1. H(x) = relu(x·W1)·W2 + x   x=[4,${d}]   loss = mean(H²) = ${loss.item().toFixed(6)}`);
line(`   dL/dx[0,:3]  = ${[...x.grad!.toArray().slice(0, 3)].map((v) => v.toFixed(6)).join(', ')}`);
line(`   dL/dW1[0,:3] = ${[...w1.grad!.toArray().slice(0, 3)].map((v) => v.toFixed(6)).join(', ')}`);

// 2. The identity path in numbers: with W2 = 0 the gradient reaching x is exactly dL/dH.
const zero = randn([d, d], { dtype: 'float64' }).mul(0);
zero.requiresGrad = true;
const x2 = x.detach();
x2.requiresGrad = true;
const h2 = residualBlock(x2, w1, zero);
h2.sum().backward();
const allOnes = x2.grad!.toArray().every((v) => v === 1);
line(`2. with W2 = 0, H(x) = x and dH/dx = I: every entry of d(sum H)/dx is 1 -> ${allOnes}`);

// 3. gradcheck: analytic gradients against central differences, in float64.
const small = [randn([2, 3], { dtype: 'float64', requiresGrad: true }), randn([3, 3], { dtype: 'float64', requiresGrad: true }), randn([3, 3], { dtype: 'float64', requiresGrad: true })];
const ok = autograd.gradcheck((a, b, c) => residualBlock(a, b, c), small);
line(`3. gradcheck(H, x=[2,3] W1=[3,3] W2=[3,3]) -> ${ok}`);

// 4. The GEMM ladder through the public op: every matmul variant (the registry's, pinned one at
// a time), float32, one thread, then the best at every core; median of runs after warm-up.
line(`4. GEMM a.matmul(b), float32, median of runs (${variants.describe()}):`);
const timeIt = (fn: () => void, runs: number): number => {
  for (let i = 0; i < 2; i++) fn(); // warm-up: first calls run in V8's and WASM's baseline tiers
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return ts.sort((a, b) => a - b)[Math.floor(runs / 2)] as number;
};
const cores = getNumThreads();
for (const n of [256, 512]) {
  const a = randn([n, n]);
  const b = randn([n, n]);
  const gf = (ms: number) => ((2 * n ** 3) / (ms * 1e6)).toFixed(1);
  const want = variants.use({ matmul: 'reference' }, () => a.double().matmul(b.double())).toArray() as Float64Array;
  const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const rungs: string[] = [];
  for (const v of variants.list('matmul').reverse()) {
    if (v.name.startsWith('test-')) continue;
    for (const threads of v.name.startsWith('wasm') && cores > 1 ? [1, cores] : [1]) {
      setNumThreads(threads);
      const run = () => variants.use({ matmul: v.name }, () => a.matmul(b));
      const got = run().toArray();
      let err = 0;
      for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
      const ms = timeIt(run, v.name === 'reference' ? 2 : 7);
      rungs.push(`${v.name}${threads > 1 ? ` x${threads}` : ''} ${gf(ms)}${err > 1e-4 * scale ? ' WRONG' : ''}`);
    }
  }
  setNumThreads(cores);
  line(`   ${n}^3 GFLOP/s: ${rungs.join(', ')}`);
}

// 5. Residual vs plain at depth 56 (the CIFAR nets of the ResNet paper, on Fashion-MNIST-sized
//    input): one forward/backward at initialisation, and the size of the gradient that reaches
//    the first conv next to the classifier's. In the plain stack it is a product of 55 layer
//    Jacobians and its scale drifts far from the head's (with BatchNorm it grows: gradients
//    explode at init); the identity shortcuts add a path with Jacobian I, ∂(F(x)+x)/∂x = ∂F/∂x + I,
//    which keeps the two in proportion.
line('5. gradient reaching the first conv at init, depth 56, x=[4,1,28,28] (norm of dL/dW):');
for (const [name, make] of [
  ['plain  ', () => models.cifarPlain(56, { inChannels: 1 })],
  ['resnet ', () => models.cifarResNet(56, { inChannels: 1 })],
] as const) {
  manualSeed(1);
  const net = make();
  const xb = randn([4, 1, 28, 28]);
  const yb = randint(0, 10, [4]);
  F.crossEntropy(net.forward(xb), yb).backward();
  const flow = net.gradFlow();
  const first = flow.find((g) => g.name === 'conv1.weight')!;
  const last = flow.find((g) => g.name === 'fc.weight')!;
  line(`   ${name} conv1 ${first.norm.toExponential(2)}   fc ${last.norm.toExponential(2)}   ratio conv1/fc ${(first.norm / last.norm).toExponential(2)}`);
}
line();
line('Next: `npm test` runs the test suite; `npm run bench` runs the kernel benchmarks.');
