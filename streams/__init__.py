"""PartnerPulse: health of vendor ↔ channel-partner relationships from engagement events."""

__version__ = "0.1.0"
