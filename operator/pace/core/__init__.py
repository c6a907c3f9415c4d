"""Pure decisions and renderings (layer 2): no I/O, no clock; `now` is always a parameter."""
