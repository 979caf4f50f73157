"""Pure decisions: (state, event, config, now) -> (new state, commands). No IO, no clock."""
