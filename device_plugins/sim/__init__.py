"""The simulated device: emits ``sim.*`` events at a steady rate; ``prtc-sim`` runs fleets."""
