"""Commands: the ``synclab`` console script and its subcommands, thin over the layers below."""
