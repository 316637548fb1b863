"""The console's words in Chinese (default) and English; `t(key)` picks by the session.

Keys are English phrases so that a missing translation still reads well.
"""
from __future__ import annotations

from flask import session

LANGUAGES = ("zh", "en")

ZH = {
    "eseal console": "电子认证与电子印章管理台",
    "Sign in": "登录", "Sign out": "退出", "API token": "访问令牌",
    "Certificates": "证书", "Seals": "印章", "E-licenses": "电子证照", "Audit log": "审计日志",
    "Trust lists": "信任列表", "Verify a document": "验证文档",
    "Search": "搜索", "Subject or serial": "主题或序列号", "Profile": "类型", "Status": "状态", "any": "全部",
    "Serial": "序列号", "Subject": "主题", "Valid until": "有效期至", "Issued": "签发时间",
    "good": "有效", "hold": "冻结", "revoked": "已吊销", "valid": "有效", "suspended": "暂停",
    "expired": "已过期", "not-yet-valid": "尚未生效",
    "Revoke": "吊销", "Revoke this certificate": "吊销此证书", "Reason": "原因",
    "Invalidity date (optional)": "失效日期（可选）",
    "I understand that revocation is final": "我确认吊销不可撤销",
    "Certificate revoked": "证书已吊销", "Next page": "下一页", "Previous page": "上一页",
    "No certificates match": "没有匹配的证书", "Seal": "印章", "Name": "名称", "Agency": "单位", "Type": "类型",
    "Picture": "印模", "Records": "记录数", "Chain verified": "哈希链校验通过",
    "TAMPERED": "发现篡改", "Actor": "操作者", "Action": "操作", "Time": "时间",
    "Findings": "发现的问题", "Invalid or revoked token": "令牌无效或已吊销",
    "Too many failed sign-ins; try again later": "登录失败次数过多，请稍后再试",
    "The form expired; please try again": "表单已过期，请重试",
    "Your role may not do this": "您的角色无权执行此操作", "Back": "返回",
    "No trust list imported": "尚未导入信任列表", "Service": "服务", "Since": "起始时间",
    "Language": "语言", "Not found": "未找到", "total": "共", "Signed in as": "当前角色",
    "License number": "证照编号", "Holder": "持证主体", "Holder ID": "持证主体代码", "No licenses match": "没有匹配的证照",
    "long-term": "长期", "Revoked at": "吊销时间", "Sealed": "加盖印章", "Fields": "证照信息",
    "Revoke this license": "吊销此证照", "License revoked": "证照已吊销",
    "Give a reason and confirm: revocation is final": "请填写原因并确认：吊销不可撤销",
    "Public verification page": "公开核验页面",
    "This region's trust list": "本地区信任列表", "National list of lists published here": "本机发布的国家信任列表",
    "Imported lists": "已导入的信任列表", "Not published yet": "尚未发布", "Signed list (JSON)": "签名的列表（JSON）",
    "Source": "来源", "Operator": "运营机构", "Sequence number": "序号", "Next update": "下次更新",
    "overdue": "已逾期", "Signature": "签名", "verified": "验证通过", "does not verify": "验证失败",
    "granted": "已认可", "withdrawn": "已撤销",
    "Never verified in full": "从未完整校验", "Latest full verification": "最近一次完整校验",
    "The audit log has never been verified in full. A full verification reads every record and log entry; "
    "it is recorded in the log.": "审计日志从未完整校验。完整校验读取每条记录和每个日志条目，并记入审计日志。",
    "by": "执行者", "audit record": "审计记录", "Result": "结果", "no findings": "未发现问题",
    "finding(s)": "个问题", "Covered": "覆盖范围", "records": "记录", "head hash": "链头哈希",
    "transparency log entries": "透明日志条目", "no log entries": "无日志条目", "Verify now": "立即校验",
    "Appended since, checked on this page view": "此后新增的内容（本次打开页面时校验）",
    "no new records": "无新增记录", "no new log entries": "无新增日志条目",
    "Verification recorded: no findings": "校验已记录：未发现问题",
    "Verification recorded: TAMPERED": "校验已记录：发现篡改",
    "Transparency log": "透明日志", "checkpoints checked against the pinned audit key": "检查点已用固定的审计公钥验证",
    # the titles of the problems a page can answer (api.problems), and the way back
    "Request is invalid": "请求无效", "Method not allowed": "不支持此请求方法",
    "Request body too large": "请求内容过大", "Unsupported media type": "不支持的内容类型",
    "Internal error": "内部错误", "Database unavailable": "数据库暂不可用",
    "Data store unavailable": "数据存储暂不可用", "Back to the console": "返回管理台",
    "Too many requests": "请求过于频繁",
}


def lang() -> str:
    value = session.get("lang", "zh")
    return value if value in LANGUAGES else "zh"


def t(key: str) -> str:
    return ZH.get(key, key) if lang() == "zh" else key


def both(key: str) -> str:
    """Both languages at once ("未找到 · Not found"): the public pages have no language switch."""
    return f"{ZH[key]} · {key}" if key in ZH else key
