"""The emulated NIC's kernel side: configuration state (``device``) and receive datapath (``rx``).

How a user changes the configuration is ``devmem_lab.ethtool``.
"""
