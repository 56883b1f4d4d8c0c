"""gunicorn settings for the depositum web process in production.

Run as:

    gunicorn -c /etc/depositum/gunicorn.conf.py depositum.wsgi:application

Options given on the command line (for example --bind) override this file.
docs/deployment.md explains the set-up around it.
"""

# The reverse proxy on this host connects here. When the proxy runs on another
# host, bind to this host's private address and allow only the proxy through
# the firewall.
bind = "127.0.0.1:8000"

# gthread: each worker process serves `threads` requests at once. A SWORD
# upload occupies one thread for as long as the client takes to send the body,
# so workers * threads is the number of uploads and page requests served at
# once.
worker_class = "gthread"
workers = 2
threads = 8

# With gthread, `timeout` is how long a worker process may stop reporting to
# the gunicorn master before the master restarts it. It does not limit how
# long one request takes, so a large upload is not cut off by it.
timeout = 120

# On SIGTERM (systemctl stop or restart), requests in progress get this many
# seconds to finish before their worker is killed. An upload still running then
# is lost and the client has to send it again. TimeoutStopSec= in
# depositum-web.service must be larger.
graceful_timeout = 120

# The addresses whose X-Forwarded-Proto header gunicorn trusts. From them,
# "X-Forwarded-Proto: https" makes Django see the request as HTTPS, so the
# Location and link URLs that depositum returns start with https://. The
# default, 127.0.0.1 and ::1, suits a proxy on this host. List the proxy's
# address when it runs elsewhere. Never set "*" while clients can reach this
# port directly, because they could then forge the header.
forwarded_allow_ips = "127.0.0.1,::1"

# Access log and error log to standard output and standard error, which
# systemd sends to the journal. The format is gunicorn's default followed by
# the request time in milliseconds (%(M)s) and the X-Forwarded-For header that
# the proxy sets (%(h)s, the peer address, is the proxy's).
accesslog = "-"
errorlog = "-"
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
    ' %(M)sms forwarded-for=%({x-forwarded-for}i)s'
)

proc_name = "depositum-web"

# gunicorn 25.1 and newer open a control socket under $XDG_RUNTIME_DIR or
# $HOME/.gunicorn. depositum does not use it, and two gunicorn instances of one
# user would share the same socket path. Older gunicorn releases ignore this
# name in a configuration file.
control_socket_disable = True
