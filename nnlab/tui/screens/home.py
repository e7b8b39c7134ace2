"""placeholder"""
from textual.screen import Screen
class HomeScreen(Screen):
    pass
