#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Only comments here.
# import os
# def fake(): pass
