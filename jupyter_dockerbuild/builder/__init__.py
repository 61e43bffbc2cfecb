"""The build layer: options, Dockerfile, context, preflight, state and the pipeline.

The options table, the Dockerfile parser, the context tar, the preflight check, the state
folded from the daemon's events, and the one build pipeline. Uses the engine and images
layers below it; knows nothing of widgets or IPython.
"""
