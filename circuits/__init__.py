"""Circuit library: published E/I circuits as ordinary Brian2 objects in an explicit Network."""
