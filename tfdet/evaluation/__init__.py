"""ICDAR 2015 (IoU), ICDAR 2013 (DetEval) and COCO evaluation."""
