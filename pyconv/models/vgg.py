"""A small VGG-style net (Simonyan & Zisserman 2014): stacks of 3x3 convolutions with "same"
padding, each stack followed by 2x2 max pooling, then a fully connected classifier.

    28x28: [conv3x3 32, conv3x3 32, pool] -> 14x14 -> [conv3x3 64, conv3x3 64, pool] -> 7x7
    -> flatten 3136 -> 256 -> dropout -> num_classes
"""
from .. import nn


class VGG(nn.Module):
    def __init__(self, num_classes=10, in_channels=1, stages=((32, 32), (64, 64)), hidden=256,
                 batch_norm=True, dropout=0.5, image_size=28):
        super().__init__()
        layers, c, size = [], in_channels, image_size
        for stage in stages:
            for width in stage:
                layers.append(nn.Conv2d(c, width, 3, padding="same", bias=not batch_norm))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(width))
                layers.append(nn.ReLU())
                c = width
            layers.append(nn.MaxPool2d(2))
            size //= 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c * size * size, hidden), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def vgg_small(num_classes=10, in_channels=1, **kwargs):
    return VGG(num_classes, in_channels, **kwargs)
