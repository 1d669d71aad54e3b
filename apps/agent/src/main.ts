#!/usr/bin/env node
import { dispatch } from '@regop/ops';
import { dockerRegistryCharm } from './charm.js';

process.exitCode = await dispatch(dockerRegistryCharm());
