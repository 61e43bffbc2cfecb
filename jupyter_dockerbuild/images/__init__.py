"""The images layer: history, compare, prune and run, after a build.

Looks inside an image, compares two, removes what builds left behind, runs an image once.
Uses only the engine layer below it.
"""
