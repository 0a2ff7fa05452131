"""Real-data layer: image sources (folders, ISIC/HAM10000 CSVs, zips), preprocessing, the decoded-image
cache, splits and training augmentations.

Modules, each about one thing:
- `dataset`: `ImageDataset` and `load_dataset` (the entry point other layers use)
- `splits`: stratified, group-aware holdout and k-fold splits saved as CSV
- `augment`: augmentation presets applied to torch batches on the fly
- `sources`: finding labelled images in a folder or through a CSV
- `images`: decoding any image file to RGB uint8
- `preprocess`: resize/crop/pad, bilateral filter, gamma, hair removal, colour constancy
- `cache`: decode + preprocess once into a memory-mapped uint8 array
- `archive`: safe zip extraction; `roots`: which server folders the UI may read
- `class_map`: mapping diagnoses onto the classes of a task
- `importer`: the import job (a dataset run in the run store)
"""
