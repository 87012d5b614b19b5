"""ConditionalSwinSeg's logic and widget, split by responsibility: ``parameters`` (typed options that build the
CLI arguments), ``logic`` (scene in, segmentation and report table out, through the ``condswin`` process),
``widget`` (the Qt panel, only inside Slicer). Nothing here imports torch or Qt at import time."""
