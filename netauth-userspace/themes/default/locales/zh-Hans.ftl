# netauth portal strings: Simplified Chinese (简体中文).
# Machine-made translation (not yet reviewed by a native speaker); corrections welcome.

language-name = 简体中文
language = 语言

auth-required-title = 需要网络认证
auth-required-text = 您需要先登录 { $venue } 才能使用网络。
sign-in = 登录
sign-in-required = 需要登录
sign-in-to-use = 登录以使用此网络

why-quota = 您的流量已用完。请重新登录以继续。
why-expired = 您的会话时间已到。请重新登录以继续。
why-idle = 由于设备处于非活动状态，您的会话已结束。请重新登录以继续。
why-operator = 您的会话已被网络运营方结束。
why-moved = 您的会话已转移到您设备的另一个地址（同一张上网券从新地址再次登录）。请重新登录以在此继续。

login-title = 登录 { $venue }
welcome = 欢迎使用 { $venue }
default-terms = 连接即表示您同意合法、文明地使用此网络。运营方可能会记录您设备的硬件地址和会话时间，并可随时结束会话。
terms-heading = 使用条款
username = 用户名
password = 密码
voucher-code = 上网券代码
accept-connect = 接受并连接
login-expired = 此页面已过期。请重试。
login-device-limit = 此账户已在允许的最多设备上登录。
login-invalid-voucher = 上网券代码无效。
login-invalid-credentials = 用户名或密码无效。

status-title = 会话状态
online-title = 您已联网
online-text = 您的设备（{ $mac }）已登录 { $venue }。
time-left = 剩余时间：
data-left = 剩余流量：
randomized-note = 您的设备在此网络上使用私有（随机）地址。如果您离开后重新加入网络，设备可能会使用新地址，并要求您重新登录。
log-out = 退出登录
not-signed-in-title = 未登录
not-signed-in-text = 您的设备尚未登录 { $venue }。
signed-out-title = 已退出登录
signed-out-text = 您的设备已不再登录 { $venue }。
sign-in-again = 重新登录

error-not-on-lan-title = 无法识别设备
error-not-on-lan = 此页面只能从连接到访客网络的设备使用。如果您已连接，请重新连接网络后重试。
error-ambiguous-title = 请重试
error-ambiguous = 我们无法确定此请求来自哪台设备。请重试。
error-forged-title = 页面已过期
error-forged = 此表单已过期，或并非从本网络的登录页面提交。请返回、刷新页面后重试。
error-not-accepted-title = 未接受条款
error-not-accepted = 请返回并接受使用条款以连接网络。
error-full-title = 网络已满
error-full = 网络目前无法接入更多设备。请稍后重试。
error-auth-unavailable-title = 登录不可用
error-auth-unavailable = 登录服务目前没有响应。请一分钟后重试。
error-internal-title = 出错了
error-internal = 请重试。
error-end-not-recorded-title = 已退出登录
error-end-not-recorded = 您的设备已退出登录，但网络暂时无法记录。
error-store-title = 登录不可用
error-store = 网络目前无法记录登录。请一分钟后重试。
error-session-title = 出错了
error-session = 无法为您的设备登录。请重试。
error-grant-refused-title = 登录被拒绝
error-grant-refused = 无法确认此次登录：它已被更改、已过期、已被使用，或属于另一台设备。请重新开始。
error-not-found-title = 未找到
error-not-found = 此门户上没有这个页面。
