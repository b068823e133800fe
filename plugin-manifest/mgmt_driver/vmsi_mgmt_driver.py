#!/usr/bin/env python3
# Copyright the vm-sidecar-injector authors.
# SPDX-License-Identifier: Apache-2.0
"""Tacker v2 management driver script for vm-sidecar-injector.

tacker-conductor runs this file as ``python3 <script>`` for each Vnflcm hook
the VNFD declares, with a pickled dict on stdin (``operation`` is the hook
name, e.g. ``instantiate_end``; ``request``, ``vnf_instance``,
``grant_request``, ``grant_response``, ``tmp_csar_dir`` and, in newer
Tacker, ``user_script_err_handling_data``). A non-zero exit makes the LCM
operation FAILED_TEMP, with this script's stderr in the error detail.

The script posts the affected Nova servers to the plugin's mgmt endpoint,
waits until every job the plugin created is final, and exits 0 only if all
of them succeeded. Standard library only: the conductor's Python has
nothing else we may rely on.

Configuration lives on the conductor host (never in additionalParams, which
Tacker returns unredacted from GET vnf_lcm_op_occs): a JSON file named by
VMSI_MGMT_CONFIG, default /etc/tacker/vmsi-mgmt-driver.json.
"""

import http.client
import ipaddress
import json
import os
import pickle
import socket
import ssl
import stat
import sys
import time
import urllib.parse

DEFAULT_CONFIG_PATH = '/etc/tacker/vmsi-mgmt-driver.json'
CONFIG_PATH_ENV = 'VMSI_MGMT_CONFIG'
USER_AGENT = 'vmsi-mgmt-driver/1'
PREFIX = 'vmsi-sidecar-injector'

# Our entry in Tacker's user_script_err_handling_data. Tacker merges the
# top-level keys we print on stdout and saves them in the lcmocc's error,
# which the API shows: only server ids go in here.
ERR_DATA_KEY = 'vmsiSidecar'

FINAL_STATES = ('succeeded', 'failed', 'failed_temp')
MAX_RESPONSE_BYTES = 1024 * 1024
TOKEN_MIN_LENGTH = 16

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

CONFIG_DEFAULTS = {
    'timeoutSeconds': 1800,
    'pollIntervalSeconds': 5,
    'requestTimeoutSeconds': 30,
    'connectRetrySeconds': 60,
    'caFile': None,
    'allowPlainHttp': False,
}
CONFIG_REQUIRED = ('pluginUrl', 'tokenFile')
CONFIG_NUMBERS = ('timeoutSeconds', 'pollIntervalSeconds',
                  'requestTimeoutSeconds', 'connectRetrySeconds')


class DriverError(Exception):
    """A failure explained in one line; exit_code says whose fault it is."""

    def __init__(self, message, exit_code=EXIT_FAILED, lines=()):
        super().__init__(message)
        self.exit_code = exit_code
        self.lines = list(lines)


class Unreachable(Exception):
    """The request never reached the plugin, so sending it again is safe."""


class Transient(Exception):
    """The plugin answered but asked us to come back (503, 429)."""

    def __init__(self, message, retry_after=None):
        super().__init__(message)
        self.retry_after = retry_after


class Redactor(object):
    """Removes the bearer token from anything we write."""

    def __init__(self):
        self.secrets = []

    def add(self, secret):
        if secret:
            self.secrets.append(secret)

    def __call__(self, text):
        for secret in self.secrets:
            text = text.replace(secret, '[REDACTED]')
        return text


redact = Redactor()


# ---------------------------------------------------------------- config

def load_config(environ):
    path = environ.get(CONFIG_PATH_ENV) or DEFAULT_CONFIG_PATH
    try:
        with open(path, 'r', encoding='utf-8') as handle:
            raw = json.load(handle)
    except OSError as err:
        raise DriverError('cannot read config file %s: %s'
                          % (path, err.strerror or err), EXIT_USAGE)
    except ValueError as err:
        raise DriverError('config file %s is not valid JSON: %s'
                          % (path, err), EXIT_USAGE)
    if not isinstance(raw, dict):
        raise DriverError('config file %s must hold a JSON object' % path,
                          EXIT_USAGE)
    config, problems = validate_config(raw)
    if problems:
        raise DriverError('config file %s is invalid:' % path, EXIT_USAGE,
                          ['  ' + problem for problem in problems])
    return config


def validate_config(raw):
    problems = []
    config = dict(CONFIG_DEFAULTS)
    known = set(CONFIG_DEFAULTS) | set(CONFIG_REQUIRED)
    for key in sorted(set(raw) - known):
        problems.append('%s: unknown key (known: %s)'
                        % (key, ', '.join(sorted(known))))
    for key in CONFIG_REQUIRED:
        value = raw.get(key)
        if not isinstance(value, str) or not value:
            problems.append('%s: required, a non-empty string' % key)
        config[key] = value
    for key in CONFIG_NUMBERS:
        value = raw.get(key, CONFIG_DEFAULTS[key])
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or value <= 0:
            problems.append('%s: must be a number of seconds > 0' % key)
        config[key] = value
    ca_file = raw.get('caFile')
    if ca_file is not None and (not isinstance(ca_file, str) or not ca_file):
        problems.append('caFile: a path to a PEM bundle, or leave it out')
    config['caFile'] = ca_file
    allow = raw.get('allowPlainHttp', False)
    if not isinstance(allow, bool):
        problems.append('allowPlainHttp: true or false')
    config['allowPlainHttp'] = allow
    if isinstance(config['pluginUrl'], str) and config['pluginUrl']:
        problems.extend(check_plugin_url(config['pluginUrl'], allow is True))
    return config, problems


def check_plugin_url(url, allow_plain_http):
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        return ['pluginUrl: must be an http(s) URL with a host']
    if parts.username or parts.password or parts.query or parts.fragment:
        return ['pluginUrl: no credentials, query or fragment']
    if parts.scheme == 'http' and not allow_plain_http \
            and not is_loopback(parts.hostname):
        # The bearer token would cross the network in clear text.
        return ['pluginUrl: use https (or set allowPlainHttp: true)']
    return []


def is_loopback(host):
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path):
    try:
        info = os.stat(path)
        with open(path, 'r', encoding='utf-8') as handle:
            token = handle.read().strip()
    except OSError as err:
        raise DriverError('cannot read token file %s: %s'
                          % (path, err.strerror or err), EXIT_USAGE)
    if stat.S_IMODE(info.st_mode) & 0o077:
        # Like ssh with private keys: a token others can read is refused.
        raise DriverError('token file %s is accessible by group or others '
                          '(mode %04o); chmod 600 it'
                          % (path, stat.S_IMODE(info.st_mode)), EXIT_USAGE)
    if len(token) < TOKEN_MIN_LENGTH:
        raise DriverError('token file %s holds fewer than %d characters'
                          % (path, TOKEN_MIN_LENGTH), EXIT_USAGE)
    return token


# ---------------------------------------------------------------- input

def as_dict(value):
    return value if isinstance(value, dict) else {}


def as_list(value):
    return value if isinstance(value, list) else []


class HookInput(object):
    """The parts of Tacker's pickled dict this script reads."""

    def __init__(self, script_dict):
        self.hook = script_dict.get('operation')
        self.request = as_dict(script_dict.get('request'))
        self.inst = as_dict(script_dict.get('vnf_instance'))
        self.grant_req = as_dict(script_dict.get('grant_request'))
        err_data = script_dict.get('user_script_err_handling_data')
        # None: this Tacker predates user_script_err_handling_data.
        self.err_data = err_data if isinstance(err_data, dict) else None
        self.state = dict(as_dict((err_data or {}).get(ERR_DATA_KEY)))

    @property
    def vnf_instance_id(self):
        return self.inst.get('id') or self.grant_req.get('vnfInstanceId')

    @property
    def lcm_op_occ_id(self):
        return self.grant_req.get('vnfLcmOpOccId')

    def servers(self):
        """Nova servers of the instance, in Tacker's order.

        The OpenStack infra driver sorts vnfcResourceInfo by (vdu_idx,
        creation_time), newest first; id and computeResource.resourceId
        are both the Nova server id.
        """
        info = as_dict(self.inst.get('instantiatedVnfInfo'))
        result = []
        for vnfc in as_list(info.get('vnfcResourceInfo')):
            vnfc = as_dict(vnfc)
            server_id = as_dict(vnfc.get('computeResource')).get('resourceId')
            if server_id:
                result.append({
                    'serverId': server_id,
                    'vduId': vnfc.get('vduId', ''),
                    'createdAt': str(as_dict(vnfc.get('metadata'))
                                     .get('creation_time') or ''),
                })
        return result

    def grant_computes(self, key):
        """COMPUTE ResourceDefinitions of the grant request under key."""
        return [as_dict(res) for res in as_list(self.grant_req.get(key))
                if as_dict(res).get('type') == 'COMPUTE']

    def grant_servers(self, key):
        result = []
        for res in self.grant_computes(key):
            server_id = as_dict(res.get('resource')).get('resourceId')
            if server_id:
                result.append({'serverId': server_id,
                               'vduId': res.get('resourceTemplateId', '')})
        return result

    def mesh_sidecar(self):
        """Only the operation's own parameters (docs/tacker-parameters.md);
        the plugin falls back to server metadata and VNFD profiles."""
        params = as_dict(self.request.get('additionalParams'))
        if isinstance(params.get('meshSidecar'), dict):
            return params['meshSidecar']
        return None


def read_input(stream):
    try:
        script_dict = pickle.load(stream)
    except Exception as err:  # any unpickling failure is the same to us
        raise DriverError('cannot read the pickled input from tacker-'
                          'conductor on stdin: %s' % type(err).__name__,
                          EXIT_USAGE)
    if not isinstance(script_dict, dict) or \
            not isinstance(script_dict.get('operation'), str):
        raise DriverError('stdin does not hold the dict tacker-conductor '
                          'passes to mgmt driver scripts', EXIT_USAGE)
    return HookInput(script_dict)


# ---------------------------------------------------------------- hooks

# Hook name stem -> LCM operation (Tacker's _script_method_name, reversed).
OPERATION_BY_STEM = {
    'instantiate': 'INSTANTIATE',
    'terminate': 'TERMINATE',
    'scale': 'SCALE',
    'scale_to_level': 'SCALE_TO_LEVEL',
    'heal': 'HEAL',
    'modify_information': 'MODIFY_INFO',
    'change_external_connectivity': 'CHANGE_EXT_CONN',
    'change_current_package': 'CHANGE_VNFPKG',
    'change_vnfpkg': 'CHANGE_VNFPKG',  # Tacker before change_current_package
    'change_flavour': 'CHANGE_FLAVOUR',
    'operate': 'OPERATE',
}
HOOK_SUFFIXES = ('_rollback_start', '_rollback_end', '_start', '_end')


def operation_of(hook_input):
    # The hook name first: for CHANGE_VNFPKG rollback Tacker passes a grant
    # request made for the instance's last operation, not this one.
    for suffix in HOOK_SUFFIXES:
        stem = hook_input.hook[:-len(suffix)]
        if hook_input.hook.endswith(suffix) and stem in OPERATION_BY_STEM:
            return OPERATION_BY_STEM[stem]
    operation = hook_input.grant_req.get('operation')
    if isinstance(operation, str) and operation:
        return operation
    return hook_input.hook.upper()


def with_action(servers, action):
    return [{'serverId': s['serverId'], 'vduId': s['vduId'],
             'action': action} for s in servers]


def server_ids(servers):
    return [s['serverId'] for s in servers]


def remember_before(hook_input):
    hook_input.state['serversBefore'] = server_ids(hook_input.servers())


def remember_injected(hook_input, servers):
    known = {s['serverId']: s for s in
             as_list(hook_input.state.get('injected')) if isinstance(s, dict)}
    for server in servers:
        known[server['serverId']] = {'serverId': server['serverId'],
                                     'vduId': server['vduId']}
    hook_input.state['injected'] = sorted(known.values(),
                                          key=lambda s: s['serverId'])


def added_servers(hook_input):
    """Servers that the operation created or rebuilt.

    Exact when the matching *_start hook recorded the servers before the
    operation (Tacker with user_script_err_handling_data). Otherwise: the
    grant request's addResources says how many COMPUTE resources per VDU
    were added; the newest that many by creation_time are taken, the same
    order Tacker itself relies on to choose scale-in victims.
    """
    present = hook_input.servers()
    replaced = set(server_ids(hook_input.grant_servers('removeResources')))
    before = hook_input.state.get('serversBefore')
    if isinstance(before, list):
        before = set(before)
        return [s for s in present
                if s['serverId'] not in before or s['serverId'] in replaced]
    wanted = {}
    for res in hook_input.grant_computes('addResources'):
        vdu = res.get('resourceTemplateId', '')
        wanted[vdu] = wanted.get(vdu, 0) + 1
    newest = sorted(present, key=lambda s: s['createdAt'], reverse=True)
    chosen = set()
    for server in newest:
        if wanted.get(server['vduId'], 0) > 0:
            wanted[server['vduId']] -= 1
            chosen.add(server['serverId'])
    return [s for s in present
            if s['serverId'] in chosen or s['serverId'] in replaced]


def is_scale(hook_input, scale_type):
    return hook_input.request.get('type') == scale_type


def plan_instantiate_end(hook_input):
    servers = hook_input.servers()
    remember_injected(hook_input, servers)
    return with_action(servers, 'inject')


def plan_terminate_start(hook_input):
    servers = hook_input.servers() or \
        hook_input.grant_servers('removeResources')
    return with_action(servers, 'remove')


def plan_scale_start(hook_input):
    if is_scale(hook_input, 'SCALE_IN'):
        return with_action(hook_input.grant_servers('removeResources'),
                           'remove')
    remember_before(hook_input)
    return []


def plan_scale_end(hook_input):
    if not is_scale(hook_input, 'SCALE_OUT'):
        return []
    servers = added_servers(hook_input)
    remember_injected(hook_input, servers)
    return with_action(servers, 'inject')


def plan_heal_start(hook_input):
    remember_before(hook_input)
    return with_action(hook_input.grant_servers('removeResources'), 'remove')


def plan_heal_end(hook_input):
    return with_action(added_servers(hook_input), 'inject')


def plan_rollback_start(hook_input):
    """Instantiate or scale-out rollback: Tacker deletes what it created.

    The instance Tacker passes here is the one saved before the operation,
    so the servers to clean up are those this script recorded at *_end.
    """
    recorded = [s for s in as_list(hook_input.state.get('injected'))
                if isinstance(s, dict) and s.get('serverId')]
    return with_action([{'serverId': s['serverId'],
                         'vduId': s.get('vduId', '')} for s in recorded],
                       'remove')


def plan_change_ext_conn(hook_input):
    # Ports change, so ISTIO_SVC_IP and the WorkloadEntry address may too.
    updated = set(server_ids(hook_input.grant_servers('updateResources')))
    return with_action([s for s in hook_input.servers()
                        if s['serverId'] in updated], 'inject')


def plan_change_package_end(hook_input):
    """Servers of the updated VDUs run a new image: inject them again.

    Nothing is removed at *_start, so a rolling update keeps serving; old
    servers that are gone afterwards are deregistered here.
    """
    params = as_dict(hook_input.request.get('additionalParams'))
    vdus = set(as_dict(p).get('vdu_id') for p in
               as_list(params.get('vdu_params')))
    vdus.update(s['vduId'] for s in
                hook_input.grant_servers('removeResources'))
    present = hook_input.servers()
    present_ids = set(server_ids(present))
    gone = [s for s in hook_input.grant_servers('removeResources')
            if s['serverId'] not in present_ids]
    return with_action([s for s in present if s['vduId'] in vdus],
                       'inject') + with_action(gone, 'remove')


PLANS = {
    'instantiate_end': plan_instantiate_end,
    'terminate_start': plan_terminate_start,
    'scale_start': plan_scale_start,
    'scale_end': plan_scale_end,
    'heal_start': plan_heal_start,
    'heal_end': plan_heal_end,
    'instantiate_rollback_start': plan_rollback_start,
    'scale_rollback_start': plan_rollback_start,
    'change_external_connectivity_end': plan_change_ext_conn,
    'change_external_connectivity_rollback_end': plan_change_ext_conn,
    'change_current_package_end': plan_change_package_end,
    'change_current_package_rollback_end': plan_change_package_end,
    'change_vnfpkg_end': plan_change_package_end,
    'change_vnfpkg_rollback_end': plan_change_package_end,
}


def plan(hook_input):
    """The servers to act on; hooks not listed in PLANS need no work."""
    planner = PLANS.get(hook_input.hook)
    servers = planner(hook_input) if planner else []
    unique = {}
    for server in servers:
        unique.setdefault((server['serverId'], server['action']), server)
    return list(unique.values())


# ---------------------------------------------------------------- http

class PluginClient(object):
    def __init__(self, config, token):
        self.base = urllib.parse.urlsplit(config['pluginUrl'])
        self.path = self.base.path.rstrip('/')
        self.token = token
        self.timeout = config['requestTimeoutSeconds']
        self.tls = None
        if self.base.scheme == 'https':
            try:
                self.tls = ssl.create_default_context(cafile=config['caFile'])
            except (OSError, ssl.SSLError) as err:
                raise DriverError('cannot load caFile %s: %s'
                                  % (config['caFile'], describe_os_error(err)),
                                  EXIT_USAGE)

    @property
    def origin(self):
        return '%s://%s' % (self.base.scheme, self.base.netloc)

    def _connect(self, timeout):
        host, port = self.base.hostname, self.base.port
        if self.tls is not None:
            conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                               context=self.tls)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.connect()
        except ssl.SSLError as err:
            conn.close()
            raise DriverError('TLS with the plugin at %s failed: %s'
                              % (self.origin, err))
        except OSError as err:
            conn.close()
            raise Unreachable(describe_os_error(err))
        return conn

    def request(self, method, path, body, timeout):
        """One exchange; Unreachable only if nothing was sent."""
        # A zero timeout would make the socket non-blocking.
        conn = self._connect(max(0.5, min(self.timeout, timeout)))
        headers = {'Authorization': 'Bearer ' + self.token,
                   'Accept': 'application/json',
                   'User-Agent': USER_AGENT}
        payload = None
        if body is not None:
            payload = json.dumps(body, sort_keys=True).encode('utf-8')
            headers['Content-Type'] = 'application/json'
        try:
            conn.request(method, self.path + path, payload, headers)
            response = conn.getresponse()
            data = response.read(MAX_RESPONSE_BYTES + 1)
        except (OSError, http.client.HTTPException) as err:
            raise DriverError('%s %s: connection to the plugin broke: %s'
                              % (method, path, describe_os_error(err)))
        finally:
            conn.close()
        return response.status, response.getheader('Retry-After'), data


def describe_os_error(err):
    if isinstance(err, socket.timeout):
        return 'timed out'
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err) or type(err).__name__


def parse_json(data):
    if len(data) > MAX_RESPONSE_BYTES:
        return None
    try:
        return json.loads(data.decode('utf-8'))
    except ValueError:
        return None


def problem_detail(status, data):
    body = parse_json(data)
    if isinstance(body, dict) and isinstance(body.get('detail'), str):
        return 'HTTP %d: %s' % (status, body['detail'])
    return 'HTTP %d' % status


def retry_after_seconds(value):
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None


class Deadline(object):
    def __init__(self, seconds, clock=time.monotonic):
        self.clock = clock
        self.started = clock()
        self.at = self.started + seconds

    def left(self):
        return self.at - self.clock()

    def elapsed(self):
        return self.clock() - self.started


def post_hook(client, body, config, deadline):
    """POST once it can reach the plugin; never re-sends a delivered POST."""
    give_up = min(deadline.at,
                  deadline.started + config['connectRetrySeconds'])
    delay = 0.5
    while True:
        try:
            return post_once(client, body, deadline)
        except (Unreachable, Transient) as err:
            now = deadline.clock()
            if now >= give_up:
                raise DriverError('the plugin at %s could not be reached for '
                                  '%ds: %s' % (client.origin,
                                               round(deadline.elapsed()), err))
            wait = getattr(err, 'retry_after', None) or delay
            time.sleep(min(wait, give_up - now))
            delay = min(delay * 2, 5.0)


def post_once(client, body, deadline):
    status, retry_after, data = client.request(
        'POST', '/v1/tacker/mgmt', body, deadline.left())
    if status in (429, 503):
        # The plugin refused before doing anything; asking again is safe.
        raise Transient(problem_detail(status, data),
                        retry_after_seconds(retry_after))
    if status != 202:
        raise DriverError('the plugin rejected %s: %s'
                          % (body['hook'], problem_detail(status, data)))
    answer = parse_json(data)
    jobs = as_list(as_dict(answer).get('jobs'))
    if not isinstance(answer, dict) or not all(
            isinstance(job, dict) and job.get('id') for job in jobs):
        raise DriverError('the plugin answered 202 without a valid jobs list')
    return jobs


def poll_job(client, job, deadline):
    """Refreshes job in place; transient trouble goes to job['_lastPoll']."""
    path = '/v1/injections/' + urllib.parse.quote(str(job['id']), safe='')
    try:
        status, _, data = client.request('GET', path, None, deadline.left())
    except (Unreachable, DriverError) as err:
        job['_lastPoll'] = str(err)
        return
    if status == 200:
        view = parse_json(data)
        if isinstance(view, dict) and isinstance(view.get('state'), str):
            job.update(state=view['state'], lastError=view.get('lastError'))
            job.pop('_lastPoll', None)
            return
        job['_lastPoll'] = 'unreadable job view'
    elif status in (401, 403):
        raise DriverError('the plugin refused to show job %s: %s'
                          % (job['id'], problem_detail(status, data)))
    elif status == 404:
        job.update(state='failed', lastError={
            'code': 'NOT_FOUND', 'message': 'the plugin no longer knows job '
                                            + str(job['id'])})
    else:
        job['_lastPoll'] = problem_detail(status, data)


def wait_for_jobs(client, jobs, config, deadline):
    while True:
        pending = [job for job in jobs if job.get('state') not in FINAL_STATES]
        if not pending:
            return True
        if deadline.left() <= 0:
            return False
        time.sleep(max(0.0, min(config['pollIntervalSeconds'],
                                deadline.left())))
        for job in pending:
            poll_job(client, job, deadline)


# ---------------------------------------------------------------- report

def failure_lines(jobs, servers_by_id, finished, timeout_seconds):
    lines = []
    for job in jobs:
        state = job.get('state')
        if state == 'succeeded':
            continue
        server_id = job.get('serverId', '?')
        vdu = servers_by_id.get(server_id, {}).get('vduId', '')
        where = 'server %s%s' % (server_id, ' (%s)' % vdu if vdu else '')
        if state in FINAL_STATES:
            error = as_dict(job.get('lastError'))
            reason = '%s: %s' % (error.get('code', 'UNKNOWN'),
                                 error.get('message', 'no reason given'))
        elif not finished:
            reason = 'still %s after %ss' % (state, timeout_seconds)
            if job.get('_lastPoll'):
                reason += '; last poll: ' + job['_lastPoll']
        else:
            continue
        lines.append('  %s: %s %s, job %s: %s'
                     % (where, job.get('action', '?'), state, job.get('id'),
                        reason))
    return lines


def retry_hint(hook_input):
    if '_rollback_' in hook_input.hook:
        return ('  fix the cause, then roll back again: openstack vnflcm op '
                'rollback VNF_LCM_OP_OCC_ID --os-tacker-api-version 2')
    return ('  fix the cause, then: openstack vnflcm op retry %s '
            '--os-tacker-api-version 2'
            % (hook_input.lcm_op_occ_id or 'VNF_LCM_OP_OCC_ID'))


def run(hook_input, config, token):
    servers = plan(hook_input)
    if not servers:
        return
    body = {
        'hook': hook_input.hook,
        'vnfInstanceId': hook_input.vnf_instance_id,
        'operation': operation_of(hook_input),
        'servers': servers,
    }
    if hook_input.inst.get('vnfdId'):
        body['vnfdId'] = hook_input.inst['vnfdId']
    mesh_sidecar = hook_input.mesh_sidecar()
    if mesh_sidecar is not None:
        body['meshSidecar'] = mesh_sidecar
    client = PluginClient(config, token)
    deadline = Deadline(config['timeoutSeconds'])
    jobs = post_hook(client, body, config, deadline)
    finished = wait_for_jobs(client, jobs, config, deadline)
    by_id = dict((s['serverId'], s) for s in servers)
    lines = failure_lines(jobs, by_id, finished, config['timeoutSeconds'])
    if lines:
        raise DriverError(
            '%s for VNF instance %s: %d of %d servers not done'
            % (hook_input.hook, body['vnfInstanceId'], len(lines), len(jobs)),
            lines=lines + [retry_hint(hook_input)])
    if hook_input.hook.endswith('_rollback_start'):
        hook_input.state.pop('injected', None)


def write_err_data(hook_input):
    """Hands our state back to Tacker (newer Tacker unpickles stdout).

    Only user_script_err_handling_data is returned: a 'vnf_instance' key
    would replace Tacker's instance.
    """
    if hook_input is None or hook_input.err_data is None:
        return
    output = {'user_script_err_handling_data': {ERR_DATA_KEY:
                                                hook_input.state}}
    sys.stdout.buffer.write(pickle.dumps(output, protocol=2))
    sys.stdout.flush()


def report(error):
    sys.stderr.write(redact('%s: %s\n' % (PREFIX, error)))
    for line in error.lines:
        sys.stderr.write(redact(line + '\n'))
    sys.stderr.flush()


def main():
    hook_input = None
    try:
        hook_input = read_input(sys.stdin.buffer)
        config = load_config(os.environ)
        token = read_token(config['tokenFile'])
        redact.add(token)
        run(hook_input, config, token)
        return EXIT_OK
    except DriverError as error:
        report(error)
        return error.exit_code
    except Exception as error:  # one line for Tacker, never a traceback
        report(DriverError('internal error: %s: %s'
                           % (type(error).__name__, error)))
        return EXIT_FAILED
    finally:
        write_err_data(hook_input)


if __name__ == '__main__':
    sys.exit(main())
