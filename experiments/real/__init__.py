"""The real-data experiment: an erf network on a class-balanced subset with label flips
(docs/real-data.md): `data` loads it, `network` is the model, `experiment` runs it."""
