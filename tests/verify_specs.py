"""Small networks the verifier's tests state their claims for (TOML text)."""

#: One sigmoid layer, 3 -> 2, 1/2 MSE summed: the seeds' one-layer setting.
ONE_LAYER = """
[model]
inputs = 3
layers = [ { units = 2, activation = "sigmoid" } ]
[loss]
kind = "mse"
scale = 0.5
reduction = "sum"
"""

#: Two sigmoid layers, 3 -> 4 -> 2, 1/2 MSE summed.
NET = """
[model]
inputs = 3
layers = [ { units = 4, activation = "sigmoid" }, { units = 2, activation = "sigmoid" } ]
[loss]
kind = "mse"
scale = 0.5
reduction = "sum"
"""

#: tanh then softmax with cross-entropy (fused), 3 -> 4 -> 3, summed.
SM = """
name = "sm"
[model]
inputs = 3
layers = [ { units = 4, activation = "tanh" }, { units = 3, activation = "softmax" } ]
[loss]
kind = "cross_entropy"
reduction = "sum"
"""

#: Andrew Ng's planar-data network: tanh hidden layer, sigmoid output, mean cross-entropy.
NG_NET = """
[model]
inputs = 2
layers = [ { units = 4, activation = "tanh" }, { units = 1, activation = "sigmoid" } ]
[loss]
kind = "bce"
reduction = "mean"
"""

#: ReLU then softmax with cross-entropy and L2 weight decay, 4 -> 5 -> 3, mean (CS231n's net).
DECAY = """
name = "decay"
[model]
inputs = 4
layers = [ { units = 5, activation = "relu" }, { units = 3, activation = "softmax" } ]
[loss]
kind = "cross_entropy"
reduction = "mean"
l2 = 0.001
"""
