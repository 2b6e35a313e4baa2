"""Plots people would rather look at than read: one public function per file."""
