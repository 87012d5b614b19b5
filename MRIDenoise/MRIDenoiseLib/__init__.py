"""MRIDenoise's logic (no Qt): parameters and the denoising logic; ``widget`` is the Qt side and is imported
only inside Slicer."""
