"""The care console's page, stylesheet and script (served by ``interfaces.http.routers.console``).

Plain HTML, CSS and JavaScript of our own, with no build step and nothing loaded from
elsewhere, so the console works offline. Everything it shows or does goes through ``/v1``.
"""
