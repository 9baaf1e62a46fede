"""minhu's core: channel-neutral types, ports, the dispatcher, and (in
``bot.wiring``) the composition root that picks the adapters."""
