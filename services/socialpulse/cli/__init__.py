"""cli: the ``socialpulse`` command; one module per subcommand, importing what it needs late."""
