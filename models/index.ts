// models: the torchvision ResNet/ResNeXt family and the CIFAR ResNets of the ResNet paper.
export * from './resnet.js';
export * from './cifar.js';
