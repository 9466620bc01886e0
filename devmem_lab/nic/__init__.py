"""The emulated NIC: configuration state (``device``), ethtool front end (``ethtool``, its ntuple
rules in ``rxclass``, what their commands share in ``ethtool_internal``) and receive datapath
(``rx``)."""
