"""biosnn.ablation"""
