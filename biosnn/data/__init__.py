"""biosnn.data"""
