"""Serving a trained model: the bundle that packages it (`bundle`), request validation (`inputs`),
batched prediction (`predictor`) and the local HTTP endpoint (`http`). Heavy libraries (torch,
scikit-learn) are imported only when a model is loaded."""
