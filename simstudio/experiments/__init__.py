"""Experiments: does synthetic data help? Arms trained on different training sets, tested on the same
real images, repeated over seeds or folds, compared with paired statistics, written up as a report."""
