"""The only code that talks to servers (layer 3a); each module wraps one system."""
