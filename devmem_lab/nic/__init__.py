"""The emulated NIC: configuration state (``device``), ethtool front end (``ethtool``) and
receive datapath (``rx``)."""
