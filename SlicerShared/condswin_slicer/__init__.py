"""Code shared by the ConditionalSwin Slicer modules; imports neither Qt nor Slicer nor torch.

``process``: the ``condswin`` command-line process (typed progress events, exit-code messages, cancel that
ends the whole process tree) behind the small :class:`~condswin_slicer.process.CondswinProcess` interface
that module logics take as an argument, so tests can inject a fake.
"""
