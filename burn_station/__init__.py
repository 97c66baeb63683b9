"""The burn station: fetch a project's video and documents, stage them, lay them out on discs,
build ISO images with xorriso, burn them on several drives at once, verify every disc, print its
label and report each step as events. :mod:`burn_station.plugin` wires it to the agent."""
