"""Indexes over documents: design-document views and Mango selectors."""
