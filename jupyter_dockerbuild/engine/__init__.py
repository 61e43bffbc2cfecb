"""The Docker Engine API layer: endpoint, TLS, docker config, credentials, transport, stream.

Imports nothing above it (only :mod:`jupyter_dockerbuild.errors`); knows nothing of builds
beyond the bytes of a ``/build`` request.
"""
