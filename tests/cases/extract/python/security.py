"""Every security rule, and look-alikes that must not trigger."""
import os
import pickle as pk
import ssl
import subprocess
import tempfile
import marshal
from subprocess import run

import requests
import torch
import yaml
from yaml import SafeLoader


def unsafe(data, path, model, url, command):
    eval(data)
    exec("print(1)")
    code = compile(data, "<string>", "exec")
    pk.loads(data)
    with open(path, "rb") as handle:
        pk.load(handle)
    torch.load(path)
    torch.load(path, weights_only=False)
    marshal.loads(data)
    subprocess.call(command, shell=True)
    run(command, shell=True)
    os.system(command)
    os.popen(command)
    yaml.load(data)
    yaml.load(data, Loader=yaml.Loader)
    yaml.unsafe_load(data)
    name = tempfile.mktemp()
    requests.get(url, verify=False)
    context = ssl._create_unverified_context()
    other = ssl.create_default_context()
    other.check_hostname = False
    return code, name, context


def safe(data, path, model, command):
    model.eval()
    text = "eval(x) and os.system('rm')"
    # os.system("rm -rf /") in a comment
    yaml.load(data, Loader=yaml.SafeLoader)
    yaml.load(data, Loader=SafeLoader)
    yaml.safe_load(data)
    torch.load(path, weights_only=True)
    subprocess.run(command)
    subprocess.run(command, shell=False)
    tempfile.mkstemp()
    requests.get(path, verify=True)
    return text
