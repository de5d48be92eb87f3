import sys
from pathlib import Path

# lets test modules in subfolders import the shared harness
sys.path.insert(0, str(Path(__file__).parent))
