"""The UI layer: plain text, HTML, the live progress view, and the build form.

Renders the build layer's state; never talks to the daemon except through the pipeline.
"""
