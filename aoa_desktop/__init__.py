"""aoa desktop: a tray app around the aoa gateway."""
