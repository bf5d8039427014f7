"""The presets: one module per provider or vendor, read by the registry.

Each module declares its preset class, its documented defaults (with the URL of the
page that says so) and a :class:`~requests_multiauth.providers.registry.Provider`
record: its variables, its docs page and its local emulator. ``registry`` finds them
(and those of outside packages, through the ``requests_multiauth.providers`` entry
points) for ``from_env()``, the command line, the demo and the test fixtures.
"""
