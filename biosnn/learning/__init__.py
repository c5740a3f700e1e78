"""biosnn.learning"""
