// `npm start`: a short tour of resgrad. Build a residual function H(x) = F(x) + x from our
// ops, run it forward and backward, gradcheck it, and ladder the GEMM variants (TypeScript to WASM SIMD and threads).
import { F, type Tensor, autograd, getNumThreads, manualSeed, models, randint, randn, setNumThreads, tidy, variants } from './index.js';

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
// a time), float32, one thread, then the best at every core. Timed the way `resgrad bench` times
// it (benchmark.js cycles, median): first a warm-up of at least WARM_MS and 3 calls, so V8 and
// WASM reach their optimising tiers and the worker threads are awake; then cycles of calls lasting
// at least CYCLE_MS each, and the median of the cycles' per-call times. Two or three warm-up calls
// are not enough: a 256³ SIMD GEMM takes ~1 ms, and the first tens of ms run in baseline tiers.
line(`4. GEMM a.matmul(b), float32, median per-call time after warm-up (${variants.describe()}):`);
const SLOW_MS = 100; // a call this long (the reference loop) is its own warm-up; 3 single-call cycles
const WARM_MS = 300;
const CYCLE_MS = 25;
const timeIt = (fn: () => void): number => {
  const t0 = performance.now();
  fn();
  const slow = performance.now() - t0 > SLOW_MS;
  if (!slow) {
    const start = performance.now();
    for (let calls = 0; calls < 3 || performance.now() - start < WARM_MS; calls++) fn();
  }
  const perCall: number[] = [];
  for (let c = 0; c < (slow ? 3 : 5); c++) {
    const start = performance.now();
    let calls = 0;
    do {
      fn();
      calls++;
    } while (performance.now() - start < CYCLE_MS);
    perCall.push((performance.now() - start) / calls);
  }
  return perCall.sort((x, y) => x - y)[perCall.length >> 1] as number;
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
      const run = () => tidy(() => void variants.use({ matmul: v.name }, () => a.matmul(b)));
      const got = variants.use({ matmul: v.name }, () => a.matmul(b)).toArray();
      let err = 0;
      for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
      const ms = timeIt(run);
      rungs.push(`${v.name}${threads > 1 ? ` x${threads}` : ''} ${gf(ms)}${err > 1e-4 * scale ? ' WRONG' : ''}`);
    }
  }
  setNumThreads(cores);
  line(`   ${n}^3 GFLOP/s: ${rungs.join(', ')}`);
}
line('   (the same rungs, with peers and error bars: `resgrad bench --filter gemm`)');

// 5. Residual vs plain at depth 56 (the CIFAR nets of the ResNet paper, with BatchNorm, on
//    Fashion-MNIST-sized input): one forward/backward at initialisation, and the gradient norm of
//    the first conv (the stem) against the last conv before the classifier. In the plain stack
//    the stem's gradient is a product of 55 layer Jacobians; behind BatchNorm each of them
//    amplifies a little, so the product explodes (Yang et al. 2019). The identity shortcuts add a
//    path with Jacobian I, ∂(F(x)+x)/∂x = ∂F/∂x + I, which keeps stem and head in proportion.
const depth = 56;
line(`5. gradient norm of the stem conv vs the last conv at init, depth ${depth} with BatchNorm, x=[4,1,28,28]:`);
const said: string[] = [];
for (const [name, make] of [
  ['plain ', () => models.cifarPlain(depth, { inChannels: 1 })],
  ['ResNet', () => models.cifarResNet(depth, { inChannels: 1 })],
] as const) {
  manualSeed(1);
  const net = make();
  const xb = randn([4, 1, 28, 28]);
  const yb = randint(0, 10, [4]);
  F.crossEntropy(net.forward(xb), yb).backward();
  const convs = net.gradFlow().filter((g) => g.shape.length === 4);
  const first = convs[0]!.norm;
  const last = convs[convs.length - 1]!.norm;
  const ratio = first / last;
  const perLayer = ratio ** (1 / (convs.length - 1));
  line(`   ${name}-${depth}  stem ${first.toExponential(2)}   last conv ${last.toExponential(2)}   stem/last ${ratio.toExponential(2)} (${perLayer.toFixed(3)}x per layer)`);
  const verdict =
    ratio > 100
      ? `explodes: the stem gets ${ratio.toExponential(1)}x the last conv's gradient (each of the ${convs.length - 1} layers on the way back multiplies it by ${perLayer.toFixed(2)})`
      : ratio < 0.01
        ? `vanishes: the stem gets ${ratio.toExponential(1)}x the last conv's gradient`
        : `stays flat: stem and last conv are ${ratio >= 1 ? ratio.toFixed(1) : (1 / ratio).toFixed(1)}x apart, ${perLayer.toFixed(2)}x per layer`;
  said.push(verdict);
}
line(`   In words: with BatchNorm and no shortcuts the gradient ${said[0]}; with shortcuts it ${said[1]}.`);
if (said[0]!.startsWith('explodes')) line('   A learning rate that suits the last layers is then far too large for the first ones.');
line('   The whole story (with and without BN, depth 8-110, after training): `resgrad experiment gradient-flow`.');
line();
line('Next: `npm test` runs the test suite; `npm run bench` runs the kernel benchmarks.');
