"""Vision: labels, dominant colours and the safety verdict of a picture."""
