"""Training loops run as jobs: the classifier (classifier.py) and the GANs (dcgan, acgan, cyclegan)."""
