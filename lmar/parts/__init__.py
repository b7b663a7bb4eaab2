"""Parts: the things a config names and the workflow runs. The Resampler and Backbone bases,
backbones/ (one architecture per file), lmar/ (the LMAR resampler, its fused kernels, losses and the
released-weights converters), the resize operators a part builds on and the weights parts load."""
