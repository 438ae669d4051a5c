"""SavedModel export with decoding, resizing, the model, offset decoding and quad NMS in the graph."""
