"""The ways in: the HTTP API and the ``oms`` command line.

Interfaces translate and authorise; they never decide. Rules live in ``domain``.
"""
