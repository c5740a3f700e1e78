"""biosnn.models"""
