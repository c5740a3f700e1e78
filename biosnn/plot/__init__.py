"""biosnn.plot"""
